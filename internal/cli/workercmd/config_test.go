package workercmd

import (
	"testing"

	"github.com/cipurge/cipurge/internal/config"
	"github.com/cipurge/cipurge/internal/worker"
)

// TestEnvironmentDefaultsAreTheWorkers: with no variable set, the worker runs with the defaults
// of worker.Config.WithDefaults, so the environment's defaults (config's envDefault tags) and the
// worker's cannot drift apart. The exceptions are the settings whose zero means something to the
// worker (no rate limit, no retries, no status checks): the environment chooses for them.
func TestEnvironmentDefaultsAreTheWorkers(t *testing.T) {
	cfg, err := config.Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	got := workerConfig(cfg).WithDefaults()
	want := worker.Config{Limit: got.Limit, ConfirmLimit: got.ConfirmLimit, MaxRetry: got.MaxRetry, Confirm: got.Confirm}.WithDefaults()
	if got != want {
		t.Errorf("the environment's defaults differ from the worker's:\n env    %+v\n worker %+v", got, want)
	}
}
