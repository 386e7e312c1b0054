"""The cloud route with Azure ML SDK v2 (supported): the same trainer calls, a different `backend=`.

Needs `pip install 'asl-recog[azure]'`, a workspace config.json (portal: workspace overview >
Download config.json) and a compute cluster. Not run in CI: it reaches Azure and costs money.

    python examples/azure_v2.py --config config.json --cpu cpu-cluster --gpu gpu-cluster
"""

from __future__ import annotations

import argparse
import logging

import asl_recog as asl


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=None, help="workspace config.json (default: searched like the SDK)")
    parser.add_argument("--cpu", default="cpu-cluster", help="compute cluster for AutoML")
    parser.add_argument("--gpu", default="gpu-cluster", help="compute cluster for the CNN sweep")
    parser.add_argument("--deploy", action="store_true", help="also deploy the winner to a managed online endpoint")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")

    train, test = asl.load_sign_mnist("train"), asl.load_sign_mnist("test")
    fit_part, validation = asl.train_validation_split(train)  # grouped; uploaded as two data assets, once

    cpu = asl.AzureBackend.from_config(args.config, compute=args.cpu)  # MLClient + DefaultAzureCredential
    gpu = asl.AzureBackend.from_config(args.config, compute=args.gpu)

    # AutoML: an automl.classification job; augment=True (default) uploads the augmented training table.
    automl = asl.AutoMLTrainer(
        experiment_timeout_minutes=60,
        max_concurrent_iterations=4,
        allowed_models=["LightGBM", "SVM", "ExtremeRandomTrees", "LogisticRegression"],
        backend=cpu,
    ).fit(fit_part, validation)
    print(automl.leaderboard[["model", "accuracy", "status"]].head(10))

    # HyperDrive: command(python -m asl_recog.routes.hyperdrive.train_cnn ...).sweep(...), Bandit early termination.
    cnn = asl.HyperDriveTrainer(
        builder="default",
        hyperparameter_sampling=asl.RandomParameterSampling(
            {
                "filters": asl.choice(32, 48, 64),
                "dropout": asl.uniform(0.2, 0.5),
                "learning_rate": asl.loguniform(-8, -5),
            },
            seed=0,
        ),
        policy=asl.BanditPolicy(slack_factor=0.1, evaluation_interval=1, delay_evaluation=3),
        max_total_runs=16,
        max_concurrent_runs=4,
        max_duration_minutes=120,
        fixed_params={"epochs": 15},
        backend=gpu,
    ).fit(fit_part, validation)
    print(cnn.leaderboard[["trial", "params", "accuracy", "status"]].head(10))

    comparison = asl.Comparator({"automl": automl.best_model, "cnn": cnn.best_model}).evaluate(test)
    print(comparison.summary, comparison.verdict)
    onnx_model = asl.export_onnx(comparison.best_model, "runs/azure_v2/best.onnx", parity_data=validation[:256])
    if args.deploy:
        endpoint = asl.AzureDeployer.from_config(args.config).deploy(onnx_model, name="asl-recog-demo")
        print(endpoint.scoring_uri, endpoint.predict_letters(test[:5]), test[:5].letters)
        endpoint.delete()


if __name__ == "__main__":
    main()
