"""Record the digest of the runtime copy beside a model saved before models recorded it.

    python scripts/record_runtime_copy.py models/fashion_mnist.keras
"""

import sys

from siamese_gui.core.runtime.store import record_runtime_copy

if __name__ == "__main__":
    for name in sys.argv[1:]:
        print(f"{name}: runtime copy {record_runtime_copy(name)}")
