"""Surrogate models: one Gaussian process per outcome, fitted by maximum marginal likelihood.

Each outcome gets a BoTorch ``SingleTaskGP`` (``MixedSingleTaskGP`` when the space has
categorical parameters: a categorical kernel on option indices) with inputs normalized by the
space's fixed model-space bounds and outcomes standardized; the models are gathered in a
``ModelListGP`` so outcomes may be observed on different experiments. Fitting uses BoTorch's
``fit_gpytorch_mll`` (L-BFGS-B on the exact marginal log likelihood, with its retry on failure).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from botorch.exceptions.warnings import BotorchWarning, InputDataWarning
from botorch.fit import fit_gpytorch_mll
from botorch.models.gp_regression import SingleTaskGP
from botorch.models.gp_regression_mixed import MixedSingleTaskGP
from botorch.models.model_list_gp_regression import ModelListGP
from botorch.models.transforms.input import Normalize
from botorch.models.transforms.outcome import Standardize
from gpytorch.mlls import ExactMarginalLogLikelihood

from labctl.optimizers.errors import OptimizerError
from labctl.optimizers.space import SearchSpace

__all__ = ["fit_surrogate"]


def _one_model(X: torch.Tensor, y: torch.Tensor, space: SearchSpace) -> SingleTaskGP:
    bounds = torch.as_tensor(space.model_bounds, dtype=X.dtype)
    categorical = space.categorical_columns
    numeric = [i for i in range(space.model_dim) if i not in categorical]
    normalize = Normalize(
        d=space.model_dim,
        indices=numeric if categorical else None,
        bounds=bounds,
    )
    if categorical:
        return MixedSingleTaskGP(
            X, y, cat_dims=categorical, input_transform=normalize, outcome_transform=Standardize(1)
        )
    return SingleTaskGP(X, y, input_transform=normalize, outcome_transform=Standardize(1))


def fit_surrogate(X: np.ndarray, Y: np.ndarray, space: SearchSpace) -> ModelListGP:
    """Fit one GP per outcome column on the rows where that outcome was observed.

    Args:
        X: ``n x d`` array in model space.
        Y: ``n x m`` array of outcomes (NaN where not observed).
        space: the search space (bounds and categorical columns).

    Returns:
        A ``ModelListGP`` with ``m`` outputs, in model space.

    Raises:
        OptimizerError: an outcome has fewer than two observations.
    """
    models = []
    for j in range(Y.shape[1]):
        observed = ~np.isnan(Y[:, j])
        if observed.sum() < 2:
            raise OptimizerError(
                f"outcome {j} has {int(observed.sum())} observation(s); a model needs two"
            )
        X_j = torch.as_tensor(X[observed], dtype=torch.float64)
        y_j = torch.as_tensor(Y[observed, j : j + 1], dtype=torch.float64)
        with warnings.catch_warnings():
            # Constant outcomes and tiny data sets are legitimate early in a campaign.
            warnings.simplefilter("ignore", InputDataWarning)
            model = _one_model(X_j, y_j, space)
        mll = ExactMarginalLogLikelihood(model.likelihood, model)
        with warnings.catch_warnings():
            # fit_gpytorch_mll retries from new initial values and warns when it had to.
            warnings.simplefilter("ignore", BotorchWarning)
            # linear_operator's NumericalWarning (jitter added) is a RuntimeWarning.
            warnings.simplefilter("ignore", RuntimeWarning)
            fit_gpytorch_mll(mll)
        model.eval()
        models.append(model)
    return ModelListGP(*models)
