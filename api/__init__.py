"""The REST front door of Pipeline Engine (DESIGN §5); ``api.app.create_app`` builds the app."""
