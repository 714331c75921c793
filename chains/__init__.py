"""Pure validation and derivation for users' sidechain mappings: no Django, no database.

bitcoin: addresses (base58check, bech32/bech32m) and public keys; hive: account names;
deposit: the user deposit and federation witness scripts and their P2WSH addresses;
spend: BIP143 signatures and the witness stacks that spend those scripts.
"""
