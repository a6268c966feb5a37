"""A network travels to another process (the IPEX worker) as plain values and comes back the same, whatever method
made it; nothing outside the kit's models is imported from a saved file."""
import pytest
import torch

from aitranscribe.backends import load_network, saved_network
from aitranscribe.core.errors import KitError
from aitranscribe.models.decipher.frame_classifier import FrameClassifier, StackFolded
from aitranscribe.models.gan.network import GanConfig, Generator


@pytest.mark.parametrize("make", [
    lambda: FrameClassifier(15, 7, hidden=8, context=1),
    lambda: StackFolded.from_classifier(FrameClassifier(15, 7, hidden=8, context=1), stack_context=1),
    lambda: Generator(GanConfig(input_dim=6, vocab=5, generator_kernel=4)),
], ids=["classifier", "folded", "generator"])
def test_saved_network_rebuilds_the_same_function(make):
    torch.manual_seed(0)
    net = make().eval()
    x = torch.randn(2, 9, net.input_dim - (1 if getattr(net, "reads_keep_column", False) else 0))
    rebuilt = load_network(saved_network(net))
    assert type(rebuilt) is type(net)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), net(x))


def test_load_network_refuses_modules_outside_the_kits_models():
    saved = saved_network(FrameClassifier(4, 3, hidden=2, context=0))
    with pytest.raises(KitError, match="not a network of the kit's models"):
        load_network({**saved, "module": "os"})
    with pytest.raises(KitError, match="no network class"):
        load_network({**saved, "class": "Nothing"})
