"""`loyalty worker`: drains the wallet outbox (`loop.py`) through one sender per wallet (`sender.py`:
the interface; `apple.py`: APNs pushes; `google.py`: Google Wallet's REST API)."""

from loyalty.worker.apple import apns_client
from loyalty.worker.google import walletobjects_client
from loyalty.worker.loop import Worker, run_worker

__all__ = ["Worker", "apns_client", "run_worker", "walletobjects_client"]
