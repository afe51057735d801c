"""In-process tools shared by the scripts and the tests: compiled contract artifacts as hex
(``contracts``), EXECUTE inputs built from an L2 node or an in-process chain
(``execute_inputs``), and an in-process L2 that builds blocks and keeps their witnesses
(``l2_blocks``). Nothing here starts a process; the wire format itself is
``precompiles.execute_wire``.
"""
