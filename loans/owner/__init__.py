"""The owner's pages: server-rendered views and forms over the applications and businesses domains (the
partner API, loans/api/, is the other way in; both only call services and selectors)."""
