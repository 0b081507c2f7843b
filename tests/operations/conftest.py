import sys
from pathlib import Path

# fakehost.py lives next to the tests; the project root holds tasks/.
HERE = Path(__file__).resolve().parent
for path in (HERE, HERE.parent.parent):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
