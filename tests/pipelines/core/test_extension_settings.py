"""What a run adds is nested in the config under the extension's name (`adversarial.epsilon`,
`ema.momentum`), each part checking itself; a number's range rule is stated on its own field;
reports list only the settings that apply."""
import dataclasses
import json

import pytest

import pipelines
from pipelines.core import config as configs
from pipelines.core import settings
from pipelines.core.config import BaseConfig
from pipelines.extensions import adversarial, ema
from project import ROOT

OLD_RECORD = ROOT / "tests" / "fixtures" / "digits_0_1" / "run" / "config.json"


def digits_config(*assignments):
    return configs.override(pipelines.get("digits").Config(), list(assignments))


def test_the_base_config_carries_no_extension_field_of_its_own():
    names = [field.name for field in dataclasses.fields(BaseConfig)]
    assert not [name for name in names if name.startswith(("adversarial_", "ema_"))]
    assert isinstance(BaseConfig().adversarial, adversarial.Settings)
    assert isinstance(BaseConfig().ema, ema.Settings)


def test_nested_and_flat_spellings_set_the_same_setting():
    flat = digits_config("adversarial=pgd", "adversarial_epsilon=8", "adversarial_steps=3", "ema_momentum=0.5")
    nested = digits_config("adversarial.method=pgd", "adversarial.epsilon=8", "adversarial.steps=3", "ema.momentum=0.5")
    assert flat == nested
    assert (flat.adversarial.method, flat.adversarial.epsilon, flat.adversarial.steps) == ("pgd", 8.0, 3)
    assert flat.ema.momentum == 0.5
    assert configs.to_dict(flat)["adversarial"] == {"method": "pgd", "epsilon": 8.0, "steps": 3, "fraction": 1.0,
                                                    "warmup_epochs": 0, "guard": 0.0}


def test_records_load_nested_and_as_0_1_wrote_them_flat():
    cls = pipelines.get("digits").Config
    config = digits_config("adversarial=fgsm", "adversarial_epsilon=40", "ema_momentum=0.9")
    assert configs.from_dict(cls, json.loads(json.dumps(configs.to_dict(config)))) == config
    old = json.loads(OLD_RECORD.read_text())["config"]
    assert old["adversarial"] == "none" and "adversarial_epsilon" in old and "ema_momentum" in old
    loaded = configs.from_dict(cls, {**old, "adversarial": "pgd", "adversarial_epsilon": 3.0, "ema_momentum": 0.25})
    assert (loaded.adversarial.method, loaded.adversarial.epsilon, loaded.ema.momentum) == ("pgd", 3.0, 0.25)
    assert loaded.filters == (4, 8)
    with pytest.raises(ValueError, match="unknown config key\\(s\\) for DigitsConfig: adversarial_radius"):
        configs.from_dict(cls, {**old, "adversarial_radius": 1})


@pytest.mark.parametrize("assignment, message", [
    ("adversarial.steps=0", "--set adversarial_steps=0: must be greater than 0"),
    ("adversarial_guard=1.5", "--set adversarial_guard=1.5: must be in [0, 1]"),
    ("ema.momentum=1", "--set ema_momentum=1.0: must be in [0, 1)"),
    ("adversarial=cw", "--set adversarial=cw: expected one of none, fgsm, pgd"),
])
def test_each_extension_checks_its_own_settings_by_their_options(assignment, message):
    with pytest.raises(ValueError) as error:
        digits_config(assignment)
    assert str(error.value) == message


def test_a_range_rule_lives_on_its_field_and_survives_an_override():
    audio, segment = pipelines.get("audio").Config, pipelines.get("segment").Config
    assert settings.rules_of(audio, "n_mels") == (settings.POSITIVE,)
    assert settings.rules_of(segment, "crops_per_volume") == (settings.POSITIVE,)
    assert settings.rules_of(pipelines.get("objects").Config, "fine_tune_factor") == (settings.POSITIVE, settings.UNIT)
    # DigitsConfig only changes epochs' default: BaseConfig's rule still holds
    assert "epochs" in vars(pipelines.get("digits").Config)["__dataclass_fields__"]
    with pytest.raises(ValueError, match="^--epochs=0: must be greater than 0$"):
        digits_config("epochs=0")
    with pytest.raises(ValueError, match="^--set n_mels=0: must be greater than 0$"):
        configs.override(audio(), ["n_mels=0"])
    with pytest.raises(ValueError, match="^--set crops_per_volume=0: must be greater than 0$"):
        configs.override(segment(), ["crops_per_volume=0"])


def test_reports_show_only_the_settings_that_apply():
    plain = settings.flat(digits_config(), applicable_only=True)
    assert "network" in plain and "weights" in plain
    assert not {"adversarial", "adversarial_epsilon", "ema_momentum", "head_epochs", "fine_tune_factor"} & set(plain)
    on = settings.flat(digits_config("adversarial=fgsm", "adversarial_epsilon=40", "ema_momentum=0.9"),
                       applicable_only=True)
    assert (on["adversarial"], on["adversarial_epsilon"], on["ema_momentum"]) == ("fgsm", 40.0, 0.9)
    everything = settings.flat(digits_config())
    assert everything["adversarial"] == "none" and everything["head_epochs"] == 2


def test_the_pipeline_asks_every_extension_before_any_data_is_read():
    text = pipelines.get("text")
    config = configs.override(text.Config(), ["adversarial=pgd", "adversarial_epsilon=1"])
    with pytest.raises(ValueError, match="pipeline text has no continuous input"):
        text(config)
    digits = pipelines.get("digits")
    with pytest.raises(ValueError, match="restores an epoch's weights"):
        digits(digits_config("adversarial=fgsm", "adversarial_epsilon=40", "adversarial_guard=0.2",
                             "ema_momentum=0.9"))
