"""wattguard.crypto: SM2, SM3 and SM4 (and SM1, by name, for hardware that has it).

``from wattguard.crypto import sm2, sm3, sm4``; see each module. Nothing here imports a higher
layer of wattguard.
"""

from wattguard.crypto import sm1, sm2, sm3, sm4
from wattguard.crypto.selfcheck import self_check

__all__ = ["self_check", "sm1", "sm2", "sm3", "sm4"]
