"""The packer's screen: a page the station serves itself, so it works with the bridge down.

`server.serve_screen` runs it as one more task of the station; `snapshot` says what it shows,
`actions` what a packer can do from it (through the same workflow as buttons and barcodes), and
`audit` records each of those actions next to the state it produced.
"""
