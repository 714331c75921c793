from drf_spectacular.extensions import OpenApiAuthenticationExtension


class SONTokenScheme(OpenApiAuthenticationExtension):
    target_class = "sons.auth.SONTokenAuthentication"
    name = "SONToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "A SON signer's token: `Token <token>`.",
        }
