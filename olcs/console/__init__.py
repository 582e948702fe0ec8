"""The librarians' console and the service endpoints: the top layer, which may read every app."""
