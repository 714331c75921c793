from django.conf import settings


def site(request) -> dict:
    """What every page shows about the installation: the network when it is not mainnet, and
    the demo's mail catcher."""
    return {
        "network": settings.BITCOIN_NETWORK,
        "mail_catcher_url": settings.MAIL_CATCHER_URL,
    }
