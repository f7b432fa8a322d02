"""Registries: named sets of numbers the operator may query, kept as keyed 8-byte hashes.

No plaintext number is stored: a registry version is a sorted array of BLAKE2b digests (keyed
with the registry secret) in the blob store, memory-mapped by the workers that query it.
"""
