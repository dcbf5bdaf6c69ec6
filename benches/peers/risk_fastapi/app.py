"""The stack a team would pick instead of the gateway for the risk endpoint: FastAPI + scikit-learn,
serving an equivalent model trained on the same CSV, with the same contract's essentials so the
benchmark compares like with like: Bearer-key auth, the body validated with the same ranges (422
naming the field, unknown fields refused), °C or °F, the severe-hypertension override, the answer
with probabilities and per-feature contributions, and every prediction logged (a JSON line
appended to a file, as a small service would).

Environment: PEER_MODEL = lr (StandardScaler + multinomial LogisticRegression, the default) or
gbm (GradientBoostingClassifier); PEER_KEY = the accepted Bearer key; PEER_LOG = the log file.
Run by run.sh; measured by examples/risk_load.rs in scripts/bench-risk.sh.
"""

import hmac
import json
import logging
import os
import time
import uuid
from pathlib import Path
from typing import Optional

import numpy as np
from fastapi import FastAPI, Header, HTTPException
from pydantic import BaseModel, ConfigDict, Field
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

DATA = Path(__file__).resolve().parents[3] / "data" / "maternal-health-risk" / "train.csv"
CLASSES = ["low risk", "mid risk", "high risk"]
LEVELS = ["low", "mid", "high"]
FEATURES = ["Age", "SystolicBP", "DiastolicBP", "BS", "BodyTemp", "HeartRate"]


def load():
    rows = [line.split(",") for line in DATA.read_text().splitlines()[1:]]
    x = np.array([[float(v) for v in r[:6]] for r in rows])
    y = np.array([CLASSES.index(r[6].strip()) for r in rows])
    return x, y


X, Y = load()
KIND = os.environ.get("PEER_MODEL", "lr")
if KIND == "gbm":
    MODEL = GradientBoostingClassifier(random_state=42).fit(X, Y)
else:
    MODEL = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=200)).fit(X, Y)
VERSION = f"sklearn-{KIND}"
KEY = os.environ.get("PEER_KEY", "peer-key")
LOG = logging.getLogger("predictions")
LOG.addHandler(logging.FileHandler(os.environ.get("PEER_LOG", "/tmp/risk-peer-predictions.log")))
LOG.setLevel(logging.INFO)
LOG.propagate = False

app = FastAPI()


class RiskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    age_years: float = Field(ge=10, le=60)
    systolic_bp_mmhg: float = Field(ge=60, le=260)
    diastolic_bp_mmhg: float = Field(ge=30, le=160)
    blood_glucose_mmol_l: float = Field(ge=1, le=40)
    body_temperature_c: Optional[float] = Field(default=None, ge=34, le=43)
    body_temperature_f: Optional[float] = Field(default=None, ge=93.2, le=109.4)
    heart_rate_bpm: float = Field(ge=30, le=220)
    gestational_week: Optional[float] = Field(default=None, ge=1, le=45)


def contributions(row):
    if KIND == "gbm":
        return []  # scikit-learn's GBM has no per-prediction contributions built in
    scaler, lr = MODEL[0], MODEL[1]
    z = (row - scaler.mean_) / scaler.scale_
    k = int(np.argmax(lr.predict_proba(z.reshape(1, -1))[0]))
    return [
        {"feature": f, "value": float(v), "effect": float(lr.coef_[k][j] * z[j])}
        for j, (f, v) in enumerate(zip(FEATURES, row))
    ]


@app.post("/v1/risk/obstetric")
def obstetric(req: RiskRequest, authorization: str = Header(default="")):
    started = time.perf_counter()
    if not hmac.compare_digest(authorization, f"Bearer {KEY}"):
        raise HTTPException(status_code=401, detail="invalid key")
    if (req.body_temperature_c is None) == (req.body_temperature_f is None):
        raise HTTPException(status_code=422, detail="give body_temperature_c or body_temperature_f")
    temp_f = req.body_temperature_f if req.body_temperature_f is not None else req.body_temperature_c * 9 / 5 + 32
    row = np.array([req.age_years, req.systolic_bp_mmhg, req.diastolic_bp_mmhg,
                    req.blood_glucose_mmol_l, temp_f, req.heart_rate_bpm])
    p = MODEL.predict_proba(row.reshape(1, -1))[0]
    severe = req.systolic_bp_mmhg >= 160 or req.diastolic_bp_mmhg >= 110
    level = "high" if severe else LEVELS[int(np.argmax(p))]
    answer = {
        "prediction_id": str(uuid.uuid4()),
        "risk_level": level,
        "probabilities": dict(zip(LEVELS, map(float, p))),
        "model": {"name": "risk", "version": VERSION},
        "contributions": contributions(row),
        "escalate": severe,
        "notices": [],
    }
    LOG.info(json.dumps({"id": answer["prediction_id"], "features": row.tolist(),
                         "probabilities": answer["probabilities"], "risk_level": level,
                         "latency_ms": (time.perf_counter() - started) * 1000}))
    return answer
