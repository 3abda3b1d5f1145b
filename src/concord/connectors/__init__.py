"""System APIs: one package per external system, each with config, auth, client and resources modules."""
