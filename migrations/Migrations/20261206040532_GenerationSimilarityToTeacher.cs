using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Studio.Migrations.Migrations
{
    /// <inheritdoc />
    public partial class GenerationSimilarityToTeacher : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<double>(
                name: "SimilarityToTeacher",
                table: "GenerationImages",
                type: "REAL",
                nullable: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "SimilarityToTeacher",
                table: "GenerationImages");
        }
    }
}
