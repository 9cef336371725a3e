"""The on-device side: what runs on the phone (shell runner, LiteRT benchmark runner)."""
