"""The documents Hlídka was created from, and the fixture news sites built from them.

A package (not just a folder) so that ``hlidka demo`` finds its content in a
regular, non-editable install too.
"""
