from django import forms
from django.conf import settings

from chains.bitcoin.keys import MAX_KEY_INPUT


def second_factor_code() -> forms.CharField:
    return forms.CharField(
        label="Authenticator code",
        max_length=64,
        required=False,
        help_text="Only to change where your money goes: the current code of your "
        "authenticator app, or a recovery code. A mail then asks you to confirm.",
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "spellcheck": "false"}
        ),
    )


class BitcoinMappingForm(forms.Form):
    deposit_public_key = forms.CharField(
        label="Deposit public key",
        max_length=MAX_KEY_INPUT,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    withdraw_address = forms.CharField(
        label="Withdraw address",
        max_length=200,
        help_text="The Bitcoin address your withdrawals are paid to.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    code = second_factor_code()

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        xpub = "xpub (or zpub)" if settings.BITCOIN_NETWORK == "mainnet" else "tpub (or vpub)"
        self.fields["deposit_public_key"].help_text = (
            f"Your wallet's extended public key, {xpub}, or a descriptor such as "
            "wpkh([fingerprint/84h/1h/0h]" + xpub.split()[0] + "…/0/*): each deposit address "
            "gets a fresh key of it. A single compressed public key in hex (66 digits, 02… or "
            "03…) works too."
        )


class HiveMappingForm(forms.Form):
    hive_account = forms.CharField(
        label="Hive account",
        max_length=64,
        help_text="Deposits are transfers from this account to the federation account. You then "
        "prove that it is yours: sign a message with its key, or send 0.001 HIVE with a code.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    code = second_factor_code()

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The Bitcoin form on the same page has a code field too: ids must differ.
        self.fields["code"].widget.attrs["id"] = "id_hive_code"


class HiveSignatureForm(forms.Form):
    signature = forms.CharField(
        label="Signature",
        max_length=140,
        help_text="The challenge above signed with the account's posting or active key "
        "(Hive Keychain: Sign message), 130 hexadecimal characters.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
