import dataclasses

import pytest
import yaml

from edgerec import recipe
from edgerec.distill import methods as distill_methods
from edgerec.recipe import RecipeError


def _write(tmp_path, text):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("name", recipe.builtin_names())
def test_builtin_recipes_load(name):
    # execute
    loaded = recipe.load(name)
    # assert
    assert loaded.name == name
    assert loaded.compress, "built-in recipes exercise every compression stage"


def test_unknown_key_suggests_the_close_one(tmp_path):
    with pytest.raises(RecipeError, match=r"unknown key 'temprature'.*Did you mean 'temperature'"):
        recipe.load(_write(tmp_path, "distill: {temprature: 2.0}\n"))


def test_wrong_type_names_key_and_value(tmp_path):
    with pytest.raises(RecipeError, match=r"teacher_training.max_epochs: expected int. Received: 'three'"):
        recipe.load(_write(tmp_path, "teacher_training: {max_epochs: three}\n"))


@pytest.mark.parametrize(
    "text, message",
    [
        ("distill: {temperature: 0}\n", r"distill.temperature: expected > 0. Received: 0.0"),
        ("distill: {alpha: 1.5}\n", r"distill.alpha: expected a value in \[0, 1\]"),
        ("student: {embedding_dim: 0, hidden: [4]}\n", r"student.embedding_dim: expected >= 1"),
        ("bench: {threads: [0]}\n", r"bench.threads: expected positive thread counts"),
        ("teacher: {embedding_dim: 4, hidden: [4], architecture: deepfn}\n",
         r"teacher.architecture: expected one of \['mlp', 'neumf', 'deepfm', 'dcn_v2', 'two_tower'\]"),
        ("distill: {methods: [{name: hint, studnet_layer: h}]}\n",
         r"distill.methods\[0\]: unknown key 'studnet_layer'. Did you mean 'student_layer'"),
        ("distill: {methods: [{name: logit}]}\n",
         r"distill.methods\[0\].name: expected one of \['logits', 'ranking', 'listwise', 'hint', 'embedding', 'unlabelled'\]"),
        ("distill: {methods: [{name: logits, top_k: 3}]}\n",
         r"distill.methods\[0\].top_k: not a parameter of method 'logits' \(it takes: none\)"),
        ("distill: {methods: [{name: hint, student_layer: hidden_0}]}\n",
         r"distill.methods\[0\].teacher_layer: expected a layer name"),
        ("distill: {methods: [{name: ranking, top_k: three}]}\n",
         r"distill.methods\[0\].top_k: expected int. Received: 'three'"),
        ("distill: {methods: [{name: ranking, top_k: 4, candidates: 4}]}\n",
         r"distill.methods\[0\].candidates: expected > top_k. Received: 4"),
        ("distill: {methods: [{name: logits, weight: 0}]}\n", r"distill.methods\[0\].weight: expected > 0. Received: 0.0"),
        ("distill: {methods: []}\n", r"distill.methods: expected at least one method"),
        ("compress: [{name: qat, finetune_lr_scale: 0}]\n", r"compress\[0\].finetune_lr_scale: expected a fraction in \(0, 1\]"),
        ("compress: [{name: prune, max_validation_drop: 2}]\n",
         r"compress\[0\].max_validation_drop: expected a fraction in \[0, 1\] of the validation metric"),
        ("student_training: {min_steps_per_epoch: -2}\n", r"student_training.min_steps_per_epoch: expected >= 0"),
        ("data: {negatives_per_positive: many}\n", r"data.negatives_per_positive: expected 'auto' or an integer >= 1. Received: 'many'"),
        ("data: {negatives_per_positive: 0}\n", r"data.negatives_per_positive: expected 'auto' or an integer >= 1. Received: 0"),
        ("data: {negatives_per_positive: 2.5}\n", r"data.negatives_per_positive: expected an integer or a string. Received: 2.5"),
        ("student: {embedding_dim: 4, hidden: [4], dropout: 1.0}\n", r"student.dropout: expected a rate in \[0, 1\)"),
        ("teacher: {embedding_dim: 4, hidden: [4], architecture: mlp, gmf: true}\n",
         r"teacher.gmf: expected false for architecture 'mlp' \(dcn_v2 only"),
    ],
)
def test_out_of_range_values_are_rejected(tmp_path, text, message):
    with pytest.raises(RecipeError, match=message):
        recipe.load(_write(tmp_path, text))


def test_unknown_builtin_lists_valid_ones():
    with pytest.raises(RecipeError, match=r"unknown recipe 'smok'. Did you mean 'smoke'\?.*default, smoke"):
        recipe.load("smok")


def test_round_trip_through_dict(tmp_path):
    # setup
    import yaml

    original = recipe.load("smoke")
    # execute
    again = recipe.load(_write(tmp_path, yaml.safe_dump(original.to_dict())))
    # assert
    assert again == original


def test_distill_methods_parse_with_weights_and_parameters(tmp_path):
    # execute
    loaded = recipe.load(_write(tmp_path, (
        "distill:\n  alpha: 0.3\n  methods:\n    - {name: logits, weight: 1.0}\n"
        "    - {name: hint, weight: 0.1, student_layer: hidden_0, teacher_layer: hidden_1}\n"
        "    - {name: ranking, weight: 0.5, top_k: 3}\n"
    )))
    # assert
    methods = loaded.distill.methods
    assert [(m.name, m.weight) for m in methods] == [("logits", 1.0), ("hint", 0.1), ("ranking", 0.5)]
    assert (methods[1].student_layer, methods[1].teacher_layer) == ("hidden_0", "hidden_1")
    assert methods[2].top_k == 3 and methods[2].candidates is None


def test_method_keys_are_the_registered_parameters():
    # A recipe key per registered parameter, and no key that no method takes.
    keys = {f.name for f in dataclasses.fields(recipe.DistillMethod)} - {"name", "weight"}
    assert keys == {key for method in distill_methods.REGISTRY.values() for key in method.params}


@pytest.mark.parametrize("name, key", [
    (name, key) for name, method in distill_methods.REGISTRY.items() for key in method.params
])
def test_a_misspelt_method_parameter_suggests_the_registered_one(tmp_path, name, key):
    with pytest.raises(RecipeError, match=rf"distill.methods\[0\]: unknown key '{key[:-1]}'. Did you mean '{key}'\?"):
        recipe.load(_write(tmp_path, f"distill: {{methods: [{{name: {name}, {key[:-1]}: 1}}]}}\n"))


def test_default_distillation_is_logits_only():
    assert recipe.load("default").distill.methods == (recipe.DistillMethod("logits", 1.0),)


def test_round_trip_keeps_methods_and_omits_unset_parameters(tmp_path):
    # setup
    import yaml

    original = recipe.load(_write(tmp_path, "distill: {methods: [{name: ranking, top_k: 2}, {name: embedding}]}\n"))
    # execute
    plain = original.to_dict()
    again = recipe.load(_write(tmp_path, yaml.safe_dump(plain)))
    # assert
    assert plain["distill"]["methods"] == [{"name": "ranking", "weight": 1.0, "top_k": 2}, {"name": "embedding", "weight": 1.0}]
    assert again == original


def test_a_folder_named_like_a_builtin_does_not_shadow_it(tmp_path, monkeypatch):
    # setup: e.g. a bundle written to ./smoke
    (tmp_path / "smoke").mkdir()
    monkeypatch.chdir(tmp_path)
    # execute / assert
    assert recipe.load("smoke").name == "smoke"


def test_invalid_yaml_is_one_line_with_its_position(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("teacher: [unclosed\n")
    with pytest.raises(RecipeError) as info:
        recipe.load(str(path))
    assert "\n" not in str(info.value)
    assert str(info.value).startswith(f"{path}: not valid YAML at line 2, column 1: expected ',' or ']'")


def test_teacher_variants_are_parsed_and_checked(tmp_path):
    plain = recipe.load("smoke").to_dict()
    plain["distill"].update({"ensemble": 3, "assistants": [{"embedding_dim": 8, "hidden": [16]}]})
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(plain))
    loaded = recipe.load(str(path))
    assert loaded.distill.ensemble == 3
    assert loaded.distill.assistants == (recipe.ModelConfig(embedding_dim=8, hidden=(16,)),)
    plain["distill"]["ensemble"] = 0
    path.write_text(yaml.safe_dump(plain))
    with pytest.raises(recipe.RecipeError, match=r"distill.ensemble: expected a number of teachers in \[1, 8\]. Received: 0"):
        recipe.load(str(path))


def test_distillation_lists_give_the_cross_product_of_candidates(tmp_path):
    # execute
    loaded = recipe.load(_write(tmp_path, (
        "distill:\n  alpha: [0.3, 0.7]\n  temperature: 2\n"
        "  methods: [[{name: logits}], [{name: logits}, {name: ranking, weight: 0.5, top_k: 3}]]\n"
    ))).distill
    # assert: alpha varies slowest; each candidate has one value of each
    candidates = loaded.candidates()
    assert [c.label() for c in candidates] == [
        "alpha 0.3, T 2, logits", "alpha 0.3, T 2, logits+ranking ×0.5 (top_k 3)",
        "alpha 0.7, T 2, logits", "alpha 0.7, T 2, logits+ranking ×0.5 (top_k 3)",
    ]
    assert all(c.candidates() == (c,) for c in candidates)
    assert candidates[1].settings() == {"alpha": 0.3, "temperature": 2.0, "methods": [
        {"name": "logits", "weight": 1.0}, {"name": "ranking", "weight": 0.5, "top_k": 3}]}
    with pytest.raises(RecipeError, match=r"distill: the ablation takes one alpha, temperature and method list. "
                                          r"Received: 4 candidates"):
        loaded.single("the ablation")


@pytest.mark.parametrize("name", recipe.builtin_names())
def test_a_recipe_of_single_values_is_one_candidate_itself(name):
    distill = recipe.load(name).distill
    assert distill.candidates() == (distill,)
    assert distill.single("a test") == distill


def test_one_method_list_in_a_list_is_one_candidate(tmp_path):
    loaded = recipe.load(_write(tmp_path, "distill: {alpha: [0.4], methods: [[{name: logits}, {name: embedding}]]}\n"))
    (candidate,) = loaded.distill.candidates()
    assert (candidate.alpha, [m.name for m in candidate.methods]) == (0.4, ["logits", "embedding"])


@pytest.mark.parametrize(
    "text, message",
    [
        ("distill: {alpha: [0.3, 1.5]}\n", r"distill.alpha\[1\]: expected a value in \[0, 1\]. Received: 1.5"),
        ("distill: {temperature: [1, 0]}\n", r"distill.temperature\[1\]: expected > 0. Received: 0.0"),
        ("distill: {alpha: []}\n", r"distill.alpha: expected a number or a non-empty list of numbers. Received: \[\]"),
        ("distill: {alpha: [0.5, 0.5]}\n", r"distill.alpha: expected each value once. Received: \[0.5, 0.5\]"),
        ("distill: {temperature: [2, 2.0]}\n", r"distill.temperature: expected each value once"),
        ("distill: {alpha: [0.5, [0.3]]}\n", r"distill.alpha: expected a number or a list of numbers. Received"),
        ("distill: {alpha: [[0.5]]}\n", r"distill.alpha: expected a number or a list of numbers. Received"),
        ("distill: {alpha: [half]}\n", r"distill.alpha\[0\]: expected float. Received: 'half'"),
        ("distill: {methods: [[{name: logits}], {name: ranking}]}\n",
         r"distill.methods: expected a list of mappings or a list of lists of mappings. Received"),
        ("distill: {methods: [[{name: logits}], []]}\n", r"distill.methods\[1\]: expected at least one method"),
        ("distill: {methods: [[{name: logits}], [{name: logitz}]]}\n", r"distill.methods\[1\]\[0\].name: expected one of"),
        ("distill: {methods: [[{name: ranking, top_k: 5}], [{name: ranking}]]}\n",
         r"distill.methods: expected each method list once"),  # equal once the defaults are resolved
        ("distill: {alpha: [0.1, 0.2, 0.3], temperature: [1, 2], methods: [[{name: logits}], [{name: ranking}], "
         "[{name: listwise}]]}\n",
         r"distill.candidates: expected at most 12 \(alpha x temperature x method lists, one student each\). "
         r"Received: 3 x 2 x 3 = 18"),
        ("distill: {alpha: [0.3, 0.7], compare: {seeds: [0]}}\n",
         r"distill.compare: the ablation compares methods at one alpha, temperature and method list; "
         r"expected one candidate. Received: 2 candidates"),
        ("distill: {temperature: [1, 2], assistants: [{embedding_dim: 8, hidden: [16]}]}\n",
         r"distill.assistants: a chain of assistants is distilled at one alpha"),
    ],
)
def test_bad_distillation_candidates_are_rejected(tmp_path, text, message):
    with pytest.raises(RecipeError, match=message):
        recipe.load(_write(tmp_path, text))


def test_round_trip_keeps_candidate_lists(tmp_path):
    # setup
    original = recipe.load(_write(tmp_path, (
        "distill: {alpha: [0.3, 0.7], temperature: [1, 4], methods: [[{name: logits}], [{name: listwise}]]}\n"
    )))
    # execute
    plain = original.to_dict()
    again = recipe.load(_write(tmp_path, yaml.safe_dump(plain)))
    # assert
    assert plain["distill"]["alpha"] == [0.3, 0.7]
    assert plain["distill"]["methods"] == [[{"name": "logits", "weight": 1.0}], [{"name": "listwise", "weight": 1.0}]]
    assert again == original and len(again.distill.candidates()) == 8


def test_a_partial_section_overrides_the_default_recipe_key_by_key(tmp_path):
    # a user recipe names one teacher key; the rest of the teacher and every other section stay the default's
    loaded = recipe.load(_write(tmp_path, "teacher: {embedding_dim: 32}\ncompress: [{name: qat}]\n"))
    default = recipe.load("default")
    assert loaded.teacher == dataclasses.replace(default.teacher, embedding_dim=32)
    assert loaded.compress == (recipe.StepConfig(name="qat"),)  # a list replaces the base's list
    assert dataclasses.replace(loaded, name=default.name, teacher=default.teacher, compress=default.compress) == default
    assert loaded.name == "r"  # the file's own name, not its base's


def test_extends_names_the_base_and_bases_chain(tmp_path):
    (tmp_path / "small.yaml").write_text("extends: smoke\nstudent: {embedding_dim: 2}\n")
    (tmp_path / "smaller.yaml").write_text("extends: small.yaml\nseed: 7\n")  # relative to this file's folder
    loaded = recipe.load(str(tmp_path / "smaller.yaml"))
    smoke = recipe.load("smoke")
    assert loaded == dataclasses.replace(smoke, name="smaller", seed=7,
                                         student=dataclasses.replace(smoke.student, embedding_dim=2))


def test_extends_null_starts_from_the_built_in_defaults(tmp_path):
    loaded = recipe.load(_write(tmp_path, "extends: null\nseed: 3\n"))
    assert loaded == recipe.Recipe(name="r", seed=3)


@pytest.mark.parametrize("text, message", [
    ("extends: smok\n", r"unknown recipe 'smok'. Did you mean 'smoke'\?"),
    ("extends: missing.yaml\n", r"recipe file not found: .*missing.yaml"),
    ("extends: r.yaml\n", r"r.yaml: extends: recipes extend each other in a loop: .*r.yaml -> .*r.yaml"),
    ("extends: [smoke]\n", r"extends: expected a built-in recipe name or a path. Received: \['smoke'\]"),
])
def test_a_bad_base_is_named(tmp_path, text, message):
    with pytest.raises(RecipeError, match=message):
        recipe.load(_write(tmp_path, text))


def test_set_overrides_keys_list_entries_and_sections():
    loaded = recipe.load("smoke", ("teacher.embedding_dim=8", "teacher.hidden=[12, 6]", "compress.0.finetune_epochs=3",
                                   "distill.alpha=0.25", "data.negatives_per_positive=auto"))
    smoke = recipe.load("smoke")
    assert loaded.teacher == dataclasses.replace(smoke.teacher, embedding_dim=8, hidden=(12, 6))
    assert loaded.compress[0] == dataclasses.replace(smoke.compress[0], finetune_epochs=3)
    assert loaded.compress[1:] == smoke.compress[1:]
    assert loaded.distill.alpha == 0.25 and loaded.data.negatives_per_positive == "auto"
    assert recipe.load("smoke", ("export.modes=[int8, fp16]",)).export.modes == ("int8", "fp16")  # not in smoke


@pytest.mark.parametrize("override, message", [
    ("teacher.embedding_dim", r"--set teacher.embedding_dim: expected KEY=VALUE, e.g. teacher.embedding_dim=32"),
    ("teacher.embeding_dim=8", r"teacher: unknown key 'embeding_dim'. Did you mean 'embedding_dim'\?"),
    ("teacher.embedding_dim=eight", r"teacher.embedding_dim: expected int. Received: 'eight'"),
    ("compress.9.finetune_epochs=1", r"--set compress.9.finetune_epochs=1: compress.9: expected a list index below 4"),
    ("seed.x=1", r"--set seed.x=1: seed.x: seed is not a mapping or a list"),
    ("extends=smoke", r"--set extends=smoke: the base is read with the recipe file; put `extends: ...` in it"),
    ("distill.alpha=[1", r"--set distill.alpha=\[1: the value is not valid YAML"),
])
def test_a_bad_set_is_named(override, message):
    with pytest.raises(RecipeError, match=message):
        recipe.load("smoke", (override,))
