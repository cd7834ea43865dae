"""Gateways, the shop floor's service accounts: their keys (`keys`), how a request
proves one (`authentication`), their rate limit (`throttling`) and their accounts
at the MQTT broker (`broker_accounts`).
"""
