"""CRM exports of one cluster through the data-integrations layer."""
