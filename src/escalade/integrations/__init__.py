"""Inbound formats (PagerDuty Events v2, Alertmanager, ...): one module per format."""
