"""The portal's base layer: small Django helpers with no business rule (htmx requests, state
transitions with their audit rows). Every app may import it; it imports none of them."""
