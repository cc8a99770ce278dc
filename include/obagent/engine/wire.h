// The wire forms of what the engine shows its front ends: one JSON codec per
// type, used by the local API (src/api/local_api.cc), the console's routes
// and obctl alike, so a field is named and typed in one place.
//
//   progress       ProgressToJson / ProgressFromJson    (engine/progress.h)
//   job record     JobRecordToJson / JobRecordFromJson  (engine/job_history.h)
//   error          StatusToJson / StatusFromJson        (here)
//   running job    RunningJobToJson / RunningJobFromJson (here)
//   machine settings MachineSettingsToJson / MachineSettingsFromJson (here)
//
// Every decoder refuses input of the wrong shape with kInvalidArgument
// naming the field; a field that is absent reads as its default (older
// engines sent fewer), unless the decoder says otherwise.
#pragma once

#include <nlohmann/json.hpp>

#include "obagent/engine/engine_service.h"
#include "obagent/engine/job_history.h"
#include "obagent/engine/machine_settings.h"
#include "obagent/engine/progress.h"
#include "obagent/status.h"

namespace obagent::engine {

// An error answer: {"ok":false, "code":"<ErrorCodeName>", "error_id":
// "<catalogue ID or empty>", "message": Status::ToString(), "detail",
// "explanation", "action" (the catalogue's texts, empty outside it),
// "os_error": "0x80070005" or ""}. The code crosses by name, never by the
// enum's number.
nlohmann::json StatusToJson(const Status& status);
// Reads the Status an error answer carries into *error (code from "code",
// detail from "detail", OS error from "os_error"). A code this build does
// not know (a newer engine's) reads as kInternal with its detail kept.
// Returns kInvalidArgument, and leaves *error alone, for what is not an
// error answer: not an object, "ok" true, "code" missing or not text (an
// enum number is refused: codes cross by name), a text field that is not
// text, an "os_error" that is not an HRESULT.
Status StatusFromJson(const nlohmann::json& j, Status* error);

// The engine's running job: {"job": JobRecordToJson, "trigger",
// "progress": ProgressToJson}.
nlohmann::json RunningJobToJson(const RunningJob& running);
Result<RunningJob> RunningJobFromJson(const nlohmann::json& j);

// Machine settings (Get-OBMachineSetting), for `obctl machine-setting show
// --json` and the console's GET /api/settings alike:
//   {"throttle": {"enabled", "work_days": [0..6] (0 = Sunday),
//                 "work_start": "HH:MM", "work_end": "HH:MM",
//                 "work_hour_bytes_per_second", "non_work_hour_bytes_per_second"},
//    "proxy": {"server": URL or "", "username", "password_set"},
//    "scratch_location"}
// The proxy password never leaves the engine.
nlohmann::json MachineSettingsToJson(const MachineSettings& settings);
// A change to `current` in the same form (the console's PUT /api/settings):
// every field optional, an absent one keeps its value; "proxy" takes
// "password" (absent: keep the stored one) and a "server" of "" clears the
// proxy; a "scratch_location" other than the current one is returned in
// scratch_dir for the caller to move to (ApplyMachineSettings). Refuses fields of
// the wrong type, work days outside 0..6, times that are not HH:MM; the
// ranges are SetMachineSettings's to check.
Result<MachineSettings> MachineSettingsFromJson(const nlohmann::json& j,
                                                const MachineSettings& current);

}  // namespace obagent::engine
