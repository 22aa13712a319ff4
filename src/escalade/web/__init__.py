"""The web dashboard (server-rendered pages); grows with the incident-command features."""
