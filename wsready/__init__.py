"""wsready: provision, prove, diagnose and keep checking Socket.IO behind nginx."""

__version__ = "0.1.0"
