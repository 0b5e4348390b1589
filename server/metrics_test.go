package server

import (
	"testing"

	"google.golang.org/grpc/codes"
)

func TestCodeName(t *testing.T) {
	for c, want := range map[codes.Code]string{
		codes.ResourceExhausted: "resource_exhausted", codes.PermissionDenied: "permission_denied",
		codes.NotFound: "not_found", codes.Unavailable: "unavailable", codes.DeadlineExceeded: "deadline_exceeded",
		codes.InvalidArgument: "invalid_argument", codes.FailedPrecondition: "failed_precondition",
	} {
		if got := codeName(c); got != want {
			t.Errorf("codeName(%v) = %q, want %q", c, got, want)
		}
	}
}
