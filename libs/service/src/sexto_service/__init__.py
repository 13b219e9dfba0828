"""The service framework every sexto service is built on: HTTP edge, auth, health, runtime."""
