"""The scenarios; importing this package registers them all."""

from wattguard.attacks.scenarios import bluetooth as bluetooth
from wattguard.attacks.scenarios import denial as denial
from wattguard.attacks.scenarios import firmware as firmware
from wattguard.attacks.scenarios import internal_links as internal_links
from wattguard.attacks.scenarios import malformed as malformed
from wattguard.attacks.scenarios import malformed_api as malformed_api
