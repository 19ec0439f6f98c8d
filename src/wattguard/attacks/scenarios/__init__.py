"""The scenarios; importing this package registers them all."""

from wattguard.attacks.scenarios import bypass as bypass
from wattguard.attacks.scenarios import clock_tamper as clock_tamper
from wattguard.attacks.scenarios import eavesdrop as eavesdrop
from wattguard.attacks.scenarios import forgery as forgery
from wattguard.attacks.scenarios import in_transit as in_transit
from wattguard.attacks.scenarios import internal_links as internal_links
from wattguard.attacks.scenarios import key_compromise as key_compromise
from wattguard.attacks.scenarios import replay as replay
from wattguard.attacks.scenarios import rogue_station as rogue_station
