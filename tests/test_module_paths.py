"""Module paths read from what each converter records (strings as litert-torch 0.10 and
torch.onnx 2.13 write them for torchvision's ResNet-18 and MobileNetV2)."""

from __future__ import annotations

from splitbench.module_paths import from_litert_name, from_module_stack, from_name_scopes, shortened

RESNET = "torchvision.models.resnet.ResNet"


def test_litert_torch_names() -> None:
    fused = (
        f"{RESNET}/torch.nn.modules.container.Sequential_layer1/torchvision.models.resnet."
        f"BasicBlock_0/torch.nn.modules.activation.ReLU_relu;;{RESNET}/torch.nn.modules.batchnorm"
        ".BatchNorm2d_bn1"
    )
    assert from_litert_name(fused) == "layer1.0.relu"  # the first of a fused op's names
    assert from_litert_name(f"{RESNET}/torch.nn.modules.conv.Conv2d_conv1;1") == "conv1"
    assert shortened(f"{RESNET}/torch.nn.modules.conv.Conv2d_conv1;2") == "conv1;2"
    user = "_splitbench_user_27774f923c6c.Branchy/torch.nn.modules.conv.Conv2d_my_conv"
    assert from_litert_name(user) == "my_conv"  # attribute names keep their underscores
    # Names of models that did not come from PyTorch are left alone.
    assert from_litert_name("MobilenetV1/Conv2d_0/Relu6") == ""
    assert shortened("MobilenetV1/Conv2d_0/Relu6") == "MobilenetV1/Conv2d_0/Relu6"
    assert from_litert_name("serving_default_args_0") == ""
    # A conv fused with a functional relu: the piece inside a submodule names the operator.
    user_root = "_splitbench_user_6fbee620e2aa.Branchy"
    fused_root_first = f"{user_root};;{user_root}/torch.nn.modules.conv.Conv2d_a;1"
    assert from_litert_name(fused_root_first) == "a"
    assert shortened(f"{user_root};1") == "(root);1"


def test_onnx_name_scopes_and_fx_module_stack() -> None:
    scopes = "['', 'features', 'features.0', 'features.0.1', '_native_batch_norm_legit']"
    assert from_name_scopes(scopes) == "features.0.1"
    assert from_name_scopes("['', 'add']") == ""  # the root's own forward
    assert from_name_scopes("not a list") == ""
    stack = {"L__self__": ("", "Net"), "L__self___layer2": ("layer2", "Seq")}
    stack["L__self___layer2_1"] = ("layer2.1", "Block")
    assert from_module_stack(stack) == "layer2.1"
    assert from_module_stack(None) == ""
