# The image deploy/kubernetes-example.yaml runs (not built by the tests here):
#   docker build -t estimator-scaffold:0.1.0 .
# then tag and push it to a registry the cluster pulls from.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

# The lock first, so that a code change does not reinstall TensorFlow.
COPY requirements.lock .
RUN pip install --no-cache-dir --upgrade "pip<25" && pip install --no-cache-dir -r requirements.lock

COPY . .
ENTRYPOINT ["python", "run.py"]
