"""Monitoring: utilisation samples per attempt, bottleneck verdicts, Prometheus metrics, webhooks.

    classify   the pure verdict on a finished attempt (GPU-bound, CPU-bound, ... with advice)
    sampler    psutil (and NVML) readings of running attempts, stored as a time series
    series     reads and writes of the ``samples`` table
    metrics    the Prometheus exposition of jobs, attempts, cost and utilisation
    webhooks   delivery of job state events to subscribed URLs, signed, retried
"""
