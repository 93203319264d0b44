"""The REST front door of Pipeline Engine; ``api.app.create_app`` builds the app."""
