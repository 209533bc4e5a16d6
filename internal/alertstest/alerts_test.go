//go:build alerts

package alertstest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cipurge/cipurge/internal/cli/enqueuecmd"
	"github.com/cipurge/cipurge/internal/testkit"
	"github.com/cipurge/cipurge/internal/testkit/testworker"
	"github.com/cipurge/cipurge/internal/testredis"
)

const testKey = "ci-test-key-alerts-5d2e91"

// TestDeadLetterAlertFiresInPrometheus: Prometheus scrapes a worker with the shipped rules; a URL
// the API rejects is dead-lettered, and CipurgeDeadLettersGrowing fires for its queue.
// It runs over 80 lines on purpose: one scenario on real processes: a worker, Prometheus and the shipped rules.
func TestDeadLetterAlertFiresInPrometheus(t *testing.T) {
	prom, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("prometheus is not on the PATH: install it (apt-get install -y prometheus) to run the alerts test")
	}
	r := testredis.Start(t)
	sb, apiURL := testkit.StartSandbox(t, testKey)
	bad := "https://img.example.com/alerts/rejected.jpg"
	sb.RejectURL(bad)
	env := []string{
		"REDIS_URL=" + r.URL(), "CLOUDIMAGE_API_URL=" + apiURL, "CLOUDIMAGE_API_KEY=" + testKey, "CLOUDIMAGE_TOKEN=demo",
		"PURGE_WINDOW=200ms", "PURGE_MAX_DELAY=1s", "PURGE_CONFIRM=false", "PURGE_SHUTDOWN_TIMEOUT=2s", "PURGE_RATE=0",
		"HTTP_ADDR=127.0.0.1:0",
	}
	addr := testworker.Start(t, env).Addr(t)

	_, file, _, _ := runtime.Caller(0)
	rules, _ := filepath.Abs(filepath.Join(filepath.Dir(file), "..", "..", "deploy", "prometheus", "alerts.yml"))
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - %s
scrape_configs:
  - job_name: cipurge
    static_configs:
      - targets: ["%s"]
`, rules, addr)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	port := testredis.FreePort(t)
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, prom, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address=127.0.0.1:"+strconv.Itoa(port))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	logs := &testkit.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus log:\n%s", testkit.Tail(logs.String(), 30))
		}
	})
	testkit.WaitFor(t, 60*time.Second, "prometheus ready", func() bool {
		code, _ := get(base + "/-/ready")
		return code == 200
	})
	// The rules loaded, and the worker is scraped: the dead letters are 0 before.
	testkit.WaitFor(t, 60*time.Second, "a scrape of the worker with the dead-letter gauge at 0", func() bool {
		_, body := get(base + `/api/v1/query?query=cipurge_dead_letters`)
		return strings.Contains(body, `"value":[`) && strings.Contains(body, `,"0"]`)
	})
	var rulesBody string
	testkit.WaitFor(t, 30*time.Second, "the shipped rules loaded", func() bool {
		_, rulesBody = get(base + "/api/v1/rules")
		return strings.Contains(rulesBody, "CipurgeDeadLettersGrowing")
	})
	for _, name := range []string{"CipurgeBacklogOld", "CipurgeSendingStopped", "CipurgeRateBelowConfigured", "CipurgeNoWorker", "CipurgeRedisUnhealthy", "CipurgeRedisEvicting",
		"CipurgeRedisRefusingWrites", "CipurgeRedisMayEvict", "CipurgeRedisMayEvictVolatile"} {
		if !strings.Contains(rulesBody, name) {
			t.Errorf("rule %s not loaded", name)
		}
	}
	if code := enqueue(t, env, bad); code != 0 {
		t.Fatalf("enqueue: exit %d", code)
	}
	start := time.Now()
	var alerts string
	testkit.WaitFor(t, 90*time.Second, "CipurgeDeadLettersGrowing firing", func() bool {
		_, alerts = get(base + "/api/v1/alerts")
		var v struct {
			Data struct {
				Alerts []struct {
					Labels map[string]string `json:"labels"`
					State  string            `json:"state"`
				} `json:"alerts"`
			} `json:"data"`
		}
		_ = json.Unmarshal([]byte(alerts), &v)
		for _, a := range v.Data.Alerts {
			if a.Labels["alertname"] == "CipurgeDeadLettersGrowing" && a.State == "firing" {
				return true
			}
		}
		return false
	})
	t.Logf("CipurgeDeadLettersGrowing firing %s after the enqueue: %s", time.Since(start).Round(100*time.Millisecond), alerts)
	// The other alerts stay quiet on a healthy worker.
	for _, name := range []string{"CipurgeNoWorker", "CipurgeRedisUnhealthy", "CipurgeSendingStopped", "CipurgeRedisEvicting",
		"CipurgeRedisRefusingWrites", "CipurgeRedisMayEvict", "CipurgeRedisMayEvictVolatile"} {
		if strings.Contains(alerts, `"alertname":"`+name+`"`) {
			t.Errorf("%s is active on a healthy worker: %s", name, alerts)
		}
	}
}

func get(url string) (int, string) {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b)
}

func enqueue(t *testing.T, env []string, args ...string) int {
	t.Helper()
	var out, errb bytes.Buffer
	err := enqueuecmd.Run(context.Background(), args, env, strings.NewReader(""), &out, &errb)
	if err != nil {
		t.Logf("enqueue: %v\n%s%s", err, out.String(), errb.String())
	}
	return enqueuecmd.ExitCode(err)
}
