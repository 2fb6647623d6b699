"""Everything between the server and the MQTT broker.

`bus` (the paho client: signed envelopes out, state and receipts in), `broker` (the embedded
amqtt broker `make run` starts), `dispatch` (publishes each target's timeline when it changed),
`signing` (the server's Ed25519 keys), `broker_acl` (per-agent broker accounts and topic rules),
`ingest_writer` (stores what agents report, in batches, off paho's thread) and `lease` (exactly
one dispatcher among replicas).
"""
