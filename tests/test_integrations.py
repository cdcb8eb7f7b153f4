"""oar optimizers and schedulers inside the trainers people run: PyTorch Lightning and Hugging Face
``transformers.Trainer``, each with a resume from a checkpoint that must continue exactly as an
uninterrupted run (the ``integrations`` extra installs both, with the torch pin)."""

from __future__ import annotations

import logging
import os
import warnings

import pytest
import torch

import oar

lightning = pytest.importorskip("lightning", reason="the integrations extra: pip install -e '.[integrations]'")
transformers = pytest.importorskip("transformers", reason="the integrations extra: pip install -e '.[integrations]'")

STEPS = 12
HALF = 6
# Lightning: one full batch per epoch, so that where Lightning resumes its data loader (an epoch boundary or
# not) cannot change the data; the test is about the optimizer's and the scheduler's state.


# ---------------------------------------------------------------------------------------------- Lightning
class _Regression(lightning.LightningModule):
    """A linear model on fixed random data; ``configure_optimizers`` returns an oar Lamb and an oar
    scheduler in Lightning's dict form, stepped every batch."""

    def __init__(self, scheduler: str) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
        self.scheduler_kind = scheduler

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.log("loss", loss)
        return loss

    def configure_optimizers(self):
        if self.scheduler_kind == "plateau":
            sched = oar.lr.ReduceOnPlateau(0.05, patience=0, factor=0.5)
            opt = oar.Lamb(
                learning_rate=sched,
                parameters=self.parameters(),
                lamb_weight_decay=0.01,
                grad_clip=oar.ClipGradByGlobalNorm(1.0),
            )
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step", "monitor": "loss"}}
        sched = oar.lr.LinearWarmup(oar.lr.CosineAnnealingDecay(0.05, T_max=STEPS), 3, 0.0, 0.05)
        opt = oar.Lamb(
            learning_rate=sched,
            parameters=self.parameters(),
            lamb_weight_decay=0.01,
            grad_clip=oar.ClipGradByGlobalNorm(1.0),
        )
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def _loader():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(64, 8, generator=g)
    y = x[:, :1] * 0.7 - x[:, 1:2] + 0.1 * torch.randn(64, 1, generator=g)
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=64)  # one step an epoch


def _trainer(root, max_steps, **kw):
    return lightning.Trainer(
        default_root_dir=str(root),
        max_steps=max_steps,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        deterministic=True,
        **kw,
    )


@pytest.fixture(autouse=True)
def _quiet():
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "transformers", "accelerate"):
        logging.getLogger(name).setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@pytest.mark.parametrize("kind", ["warmup_cosine", "plateau"])
def test_lightning_trains_and_resumes_with_oar(tmp_path, kind):
    full = _Regression(kind)
    _trainer(tmp_path / "full", STEPS).fit(full, _loader())
    sched_full = full.trainer.lr_scheduler_configs[0].scheduler
    assert sched_full.last_epoch > 0 and sched_full.optimizer is full.trainer.optimizers[0]

    first = _Regression(kind)
    ckpt_cb = lightning.pytorch.callbacks.ModelCheckpoint(dirpath=str(tmp_path / "ckpt"), save_last=True)
    _trainer(tmp_path / "first", HALF, callbacks=[ckpt_cb]).fit(first, _loader())
    ckpt = torch.load(ckpt_cb.last_model_path, weights_only=False)
    assert ckpt["lr_schedulers"][0] == first.trainer.lr_scheduler_configs[0].scheduler.state_dict()

    resumed = _Regression(kind)
    _trainer(tmp_path / "resumed", STEPS).fit(resumed, _loader(), ckpt_path=ckpt_cb.last_model_path)
    sched_resumed = resumed.trainer.lr_scheduler_configs[0].scheduler
    assert sched_resumed.state_dict() == sched_full.state_dict()
    assert resumed.trainer.optimizers[0].param_groups[0]["lr"] == full.trainer.optimizers[0].param_groups[0]["lr"]
    for a, b in zip(resumed.parameters(), full.parameters(), strict=True):
        assert torch.equal(a, b)


# ---------------------------------------------------------------------------------------------- Hugging Face
def _tiny_bert():
    config = transformers.BertConfig(
        vocab_size=40,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=16,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        num_labels=2,
    )
    torch.manual_seed(0)
    return transformers.BertForSequenceClassification(config)


class _Tokens(torch.utils.data.Dataset):
    def __init__(self) -> None:
        g = torch.Generator().manual_seed(2)
        self.ids = torch.randint(1, 40, (48, 10), generator=g)
        self.labels = (self.ids[:, 0] > 20).long()

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "labels": self.labels[i]}


def _hf_run(out_dir, max_steps, resume=None):
    model = _tiny_bert()
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if name.endswith("bias") or "LayerNorm" in name else decay).append(p)
    sched = oar.lr.LinearWarmup(oar.lr.PolynomialDecay(1e-3, decay_steps=STEPS, end_lr=0.0), 2, 0.0, 1e-3)
    opt = oar.AdamW(
        learning_rate=sched,
        parameters=[{"params": decay}, {"params": no_decay, "weight_decay": 0.0}],
        weight_decay=0.01,
    )
    args = transformers.TrainingArguments(
        output_dir=str(out_dir),
        max_steps=max_steps,
        per_device_train_batch_size=8,
        save_steps=HALF,
        save_strategy="steps",
        logging_steps=1,
        report_to=[],
        use_cpu=True,
        seed=0,
        data_seed=0,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    trainer = transformers.Trainer(model=model, args=args, train_dataset=_Tokens(), optimizers=(opt, sched))
    trainer.train(resume_from_checkpoint=resume)
    return trainer, model, sched, opt


def test_hugging_face_trainer_trains_and_resumes_with_oar(tmp_path):
    trainer, model, sched, opt = _hf_run(tmp_path / "full", STEPS)
    logged = [h["learning_rate"] for h in trainer.state.log_history if "learning_rate" in h]
    assert len(logged) == STEPS and logged[0] == 0.0 and max(logged) == pytest.approx(1e-3)
    assert sched.last_epoch == STEPS and sched.optimizer is opt

    _hf_run(tmp_path / "first", HALF)
    ckpt = tmp_path / "first" / f"checkpoint-{HALF}"
    assert (ckpt / "scheduler.pt").exists()
    _, resumed_model, resumed_sched, resumed_opt = _hf_run(tmp_path / "resumed", STEPS, resume=str(ckpt))
    assert resumed_sched.state_dict() == sched.state_dict()
    assert [g["lr"] for g in resumed_opt.param_groups] == [g["lr"] for g in opt.param_groups]
    for (name, a), b in zip(resumed_model.named_parameters(), model.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
    assert os.path.isdir(ckpt)
