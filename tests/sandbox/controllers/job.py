"""The Job controller: pods run to completion, and the Job's status and conditions."""

import calendar
import time

from ..api import now
from .common import ControllerBase, pod_ready


class JobController(ControllerBase):
    def on_job(self, etype, obj):
        if etype != "DELETED":
            self.reconcile_job(obj["metadata"]["namespace"], obj["metadata"]["name"])

    def reconcile_job(self, namespace, name):
        """Pods until `completions` have succeeded, `parallelism` at a time; then the conditions SuccessCriteriaMet
        and Complete and completionTime, as the Job controller of Kubernetes 1.31+ sets them
        (kubernetes.io/docs/concepts/workloads/controllers/job/#job-termination-and-cleanup)."""
        jobs = self.kind("batch", "v1", "jobs")
        pods = self.kind("", "v1", "pods")
        job = self._live(jobs, namespace, name)
        if job is None:
            return
        spec = job.get("spec") or {}
        old = job.get("status") or {}
        owned = self._owned_live(pods, namespace, job["metadata"]["uid"])
        succeeded = sum(1 for p in owned if (p.get("status") or {}).get("phase") == "Succeeded")
        failed = sum(1 for p in owned if (p.get("status") or {}).get("phase") == "Failed")
        active = [p for p in owned if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
        completions = spec.get("completions", 1)
        stamp = now()
        if any(c.get("type") in ("Complete", "Failed") for c in old.get("conditions") or []):
            return
        # activeDeadlineSeconds: once the Job has been active that long, its running pods are deleted and it fails
        # with DeadlineExceeded, whatever its backoffLimit (kubernetes.io/docs/concepts/workloads/controllers/job/
        # #job-termination-and-cleanup)
        deadline = spec.get("activeDeadlineSeconds")
        if isinstance(deadline, int) and old.get("startTime"):
            left = deadline - (time.time() - calendar.timegm(time.strptime(old["startTime"], "%Y-%m-%dT%H:%M:%SZ")))
            if left <= 0:
                for pod in active:
                    self.api.delete(pods, namespace, pod["metadata"]["name"])
                message = "Job was active longer than specified deadline"
                status = {"startTime": old["startTime"], "failed": failed + len(active), "succeeded": succeeded,
                          "active": 0, "terminating": 0, "uncountedTerminatedPods": {}, "conditions": [
                              {"type": "FailureTarget", "status": "True", "reason": "DeadlineExceeded",
                               "message": message, "lastProbeTime": stamp, "lastTransitionTime": stamp},
                              {"type": "Failed", "status": "True", "reason": "DeadlineExceeded", "message": message,
                               "lastProbeTime": stamp, "lastTransitionTime": stamp}]}
                self._set_status(jobs, job, status, ("failed", "succeeded", "active"))
                self.record(job, "DeadlineExceeded", message, "job-controller", "Warning")
                return
            self.later(left, self.reconcile_job, namespace, name)
        # a failed pod is replaced until backoffLimit (default 6) failures have been exceeded; then the Job fails
        # (kubernetes.io/docs/concepts/workloads/controllers/job/#pod-backoff-failure-policy)
        if failed > spec.get("backoffLimit", 6):
            status = {"startTime": old.get("startTime") or stamp, "failed": failed, "succeeded": succeeded,
                      "terminating": 0, "uncountedTerminatedPods": {}, "conditions": [
                          {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded",
                           "message": "Job has reached the specified backoff limit", "lastProbeTime": stamp,
                           "lastTransitionTime": stamp},
                          {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                           "message": "Job has reached the specified backoff limit", "lastProbeTime": stamp,
                           "lastTransitionTime": stamp}]}
            self._set_status(jobs, job, status, ("failed", "succeeded"))
            self.record(job, "BackoffLimitExceeded", "Job has reached the specified backoff limit",
                        "job-controller", "Warning")
            return
        if succeeded < completions and not spec.get("suspend"):
            template = spec.get("template") or {}
            for dummy in range(min(spec.get("parallelism", 1), completions - succeeded) - len(active)):
                self._create_pod(job, template, {"generateName": name + "-"})
            active = [p for p in self._owned(pods, namespace, job["metadata"]["uid"])
                      if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
        status = {"startTime": old.get("startTime") or stamp, "active": len(active), "succeeded": succeeded,
                  "failed": failed, "ready": sum(1 for p in active if pod_ready(p)), "terminating": 0,
                  "uncountedTerminatedPods": {}}
        if succeeded >= completions:
            status["completionTime"] = stamp
            status["conditions"] = [
                {"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached",
                 "message": "Reached expected number of succeeded pods", "lastProbeTime": stamp,
                 "lastTransitionTime": stamp},
                {"type": "Complete", "status": "True", "reason": "CompletionsReached",
                 "message": "Reached expected number of succeeded pods", "lastProbeTime": stamp,
                 "lastTransitionTime": stamp}]
        self._set_status(jobs, job, status, ("active", "succeeded", "failed"))
        if succeeded >= completions:
            self.record(job, "Completed", "Job completed", "job-controller")
