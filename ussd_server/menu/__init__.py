"""The menu runtime: YAML trees validated by a schema, compiled to transitions machines.

Imports point one way: reply, schema, registry, context (leaves) <- render, tree
<- lint <- loader; features/ use the leaves; runtime uses render, tree and the
registry it is given. docs/menus.md is the authoring guide.
"""
