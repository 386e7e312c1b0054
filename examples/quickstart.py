"""asl_recog in 15 lines: load, train both routes (small budgets), compare on the test set, export, serve."""

import asl_recog as asl

if __name__ == "__main__":  # the searches run trials in worker processes, which import this file again
    train, test = asl.load_sign_mnist("train"), asl.load_sign_mnist("test")
    fit_part, validation = asl.train_validation_split(train)  # grouped: near-duplicates never straddle it
    automl = asl.AutoMLTrainer(experiment_timeout_minutes=1, allowed_models=["KNN"], progress=False)
    cnn = asl.HyperDriveTrainer(builder="seed", max_total_runs=1, fixed_params={"epochs": 1}, progress=False)
    models = {"automl": automl.fit(fit_part, validation).best_model, "cnn": cnn.fit(fit_part, validation).best_model}
    comparison = asl.Comparator(models, latency_repeats=20).evaluate(test)  # the only step that reads the test file
    print(comparison.summary[["accuracy", "accuracy_ci_low", "accuracy_ci_high", "latency_p50_ms"]], comparison.verdict)
    asl.export_onnx(comparison.best_model, "runs/quickstart/best.onnx", parity_data=validation[:256])
    with asl.LocalDeployer().deploy("runs/quickstart/best.onnx", name="quickstart") as endpoint:
        print("predicted:", "".join(endpoint.predict_letters(test[1:10])), "| true:", "".join(test[1:10].letters))
