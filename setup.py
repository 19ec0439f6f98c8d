"""The one compiled part: the decoder's optional fast path (src/wattguard/protocol/_accel.c),
which also carries the glue of the profile's answer opening (esam.profile.open_answer, in
_accel_open.c).

``optional=True``: without a C compiler the install goes on with a warning and wattguard runs
on its pure-Python decoder (``wattguard.protocol._accelerate.REASON`` says which is in use).
Everything else is configured in pyproject.toml.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "wattguard.protocol._accel",
            ["src/wattguard/protocol/_accel.c", "src/wattguard/protocol/_accel_open.c"],
            optional=True,
            extra_compile_args=["-O2"],
        )
    ]
)
