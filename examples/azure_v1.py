"""The cloud route with Azure ML SDK v1 (azureml-core), as the seed project used it.

Microsoft ended SDK v1 support on 2026-06-30; AzureMLBackend warns and examples/azure_v2.py is the
supported path. The trainer calls are the same. Needs `pip install 'asl-recog[azureml]'`
(Python < 3.12), a workspace config.json and a compute cluster. Not run in CI.

    python examples/azure_v1.py --config config.json --cpu cpu-cluster --gpu gpu-cluster
"""

from __future__ import annotations

import argparse
import logging

import asl_recog as asl


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=None, help="workspace config.json (default: searched like the SDK)")
    parser.add_argument("--cpu", default="cpu-cluster", help="compute target for AutoML")
    parser.add_argument("--gpu", default="gpu-cluster", help="compute target for HyperDrive")
    parser.add_argument("--deploy", action="store_true", help="also deploy the winner to Azure Container Instances")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")

    train, test = asl.load_sign_mnist("train"), asl.load_sign_mnist("test")
    fit_part, validation = asl.train_validation_split(train)  # grouped; registered as two TabularDatasets, once

    cpu = asl.AzureMLBackend.from_config(args.config, compute_target=args.cpu)  # Workspace.from_config
    gpu = asl.AzureMLBackend(cpu.workspace, compute_target=args.gpu, experiment_name="asl-recog-cnn")

    # AutoML: AutoMLConfig(training_data=..., validation_data=<grouped split>) submitted to the experiment.
    automl = asl.AutoMLTrainer(
        experiment_timeout_minutes=60,
        max_concurrent_iterations=4,
        allowed_models=["LightGBM", "SVM", "ExtremeRandomTrees", "LogisticRegression"],
        backend=cpu,
    ).fit(fit_part, validation)
    print(automl.leaderboard[["model", "accuracy", "status"]].head(10))

    # HyperDrive: ScriptRunConfig over the packaged entry point + HyperDriveConfig. SDK v1 has no
    # sampling seed, so the sampling is unseeded here (a seed would be rejected with that reason).
    cnn = asl.HyperDriveTrainer(
        builder="seed",
        hyperparameter_sampling=asl.RandomParameterSampling(
            {
                "hidden": asl.choice(128, 256, 512),
                "dropout": asl.uniform(0.1, 0.5),
                "learning_rate": asl.loguniform(-8, -5),
            }
        ),
        policy=asl.BanditPolicy(slack_factor=0.1, evaluation_interval=1, delay_evaluation=2),
        max_total_runs=12,
        max_concurrent_runs=4,
        max_duration_minutes=120,
        fixed_params={"epochs": 10},
        backend=gpu,
    ).fit(fit_part, validation)
    print(cnn.leaderboard[["trial", "params", "accuracy", "status"]].head(10))

    comparison = asl.Comparator({"automl": automl.best_model, "cnn": cnn.best_model}).evaluate(test)
    print(comparison.summary, comparison.verdict)
    asl.export_onnx(comparison.best_model, "runs/azure_v1/best.onnx", parity_data=validation[:256])
    if args.deploy:
        endpoint = asl.AzureMLDeployer(cpu.workspace).deploy("runs/azure_v1/best.onnx", name="asl-recog-aci")
        print(endpoint.scoring_uri, endpoint.predict_letters(test[:5]), test[:5].letters)
        endpoint.delete()


if __name__ == "__main__":
    main()
