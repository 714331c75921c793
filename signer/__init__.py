"""The isolated SON signer.

A plain Python package: it imports nothing from Django or the portal. It holds one SON's keys in
an encrypted key file, talks to the portal over HTTP only, and never lets a private key out.
"""
