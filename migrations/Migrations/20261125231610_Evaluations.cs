using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Studio.Migrations.Migrations
{
    /// <inheritdoc />
    public partial class Evaluations : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "Evaluations",
                columns: table => new
                {
                    Id = table.Column<int>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    RunId = table.Column<int>(type: "INTEGER", nullable: true),
                    CheckpointId = table.Column<int>(type: "INTEGER", nullable: true),
                    Step = table.Column<long>(type: "INTEGER", nullable: false),
                    Pipeline = table.Column<string>(type: "TEXT", maxLength: 1000, nullable: false),
                    Encoder = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    SizeLabel = table.Column<string>(type: "TEXT", maxLength: 100, nullable: false),
                    Loss = table.Column<string>(type: "TEXT", maxLength: 40, nullable: true),
                    Split = table.Column<string>(type: "TEXT", maxLength: 40, nullable: false),
                    PromptsPerCategory = table.Column<int>(type: "INTEGER", nullable: false),
                    Seeds = table.Column<int>(type: "INTEGER", nullable: false),
                    Steps = table.Column<int>(type: "INTEGER", nullable: false),
                    Guidance = table.Column<double>(type: "REAL", nullable: false),
                    State = table.Column<string>(type: "TEXT", maxLength: 20, nullable: false),
                    HangfireJobId = table.Column<string>(type: "TEXT", nullable: true),
                    Worker = table.Column<string>(type: "TEXT", nullable: true),
                    Activity = table.Column<string>(type: "TEXT", maxLength: 200, nullable: true),
                    Progress = table.Column<double>(type: "REAL", nullable: false),
                    Error = table.Column<string>(type: "TEXT", nullable: true),
                    EncoderParameters = table.Column<long>(type: "INTEGER", nullable: true),
                    EncoderLatencyMs = table.Column<double>(type: "REAL", nullable: true),
                    ImageQualityFrechet = table.Column<double>(type: "REAL", nullable: true),
                    FrechetAll = table.Column<double>(type: "REAL", nullable: true),
                    Semantics = table.Column<double>(type: "REAL", nullable: true),
                    Text = table.Column<double>(type: "REAL", nullable: true),
                    CategoriesJson = table.Column<string>(type: "TEXT", nullable: true),
                    ReportPath = table.Column<string>(type: "TEXT", nullable: true),
                    Seconds = table.Column<double>(type: "REAL", nullable: true),
                    CreatedAt = table.Column<DateTime>(type: "TEXT", nullable: false),
                    StartedAt = table.Column<DateTime>(type: "TEXT", nullable: true),
                    FinishedAt = table.Column<DateTime>(type: "TEXT", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_Evaluations", x => x.Id);
                    table.ForeignKey(
                        name: "FK_Evaluations_Runs_RunId",
                        column: x => x.RunId,
                        principalTable: "Runs",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "IX_Evaluations_CheckpointId",
                table: "Evaluations",
                column: "CheckpointId");

            migrationBuilder.CreateIndex(
                name: "IX_Evaluations_RunId",
                table: "Evaluations",
                column: "RunId");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "Evaluations");
        }
    }
}
