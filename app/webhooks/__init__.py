"""Webhook endpoints per partner and Standard Webhooks delivery."""
