"""Google Wallet (WALLET.md, "Google Wallet"): a LoyaltyClass per programme and a LoyaltyObject per card,
written through the walletobjects REST API by the worker, and the "Save to Google Wallet" link.

`resources.py` draws the bodies from `CardFacts`/`ProgramFacts`; `save_link.py` signs the JWT;
`credentials.py` loads and checks the service account; `walletobjects.py` speaks the REST API.
"""
