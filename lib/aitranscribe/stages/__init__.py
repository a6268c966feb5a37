"""One thin module per stage notebook (``NN_key.ipynb`` <-> ``stages/key.py`` <-> profile section ``key``): its
parameters, ``run(p)`` and metrics. Stage modules never import each other; nothing outside ``stages`` imports them."""
